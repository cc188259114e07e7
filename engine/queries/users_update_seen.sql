update users set
    first_seen = a.first_seen,
    last_seen = a.last_seen,
    acquisition_channel = coalesce(users.acquisition_channel, a.acquisition_channel)
from user_activity as a
where users.user_id = a.user_id
