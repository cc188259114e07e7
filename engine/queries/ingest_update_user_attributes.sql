update users set
    gender = coalesce(s.gender, users.gender),
    age_band = coalesce(s.age_band, users.age_band),
    city = coalesce(s.city, users.city)
from seen_user_attributes as s
where users.user_id = s.user_id
