-- Demographics carried by this upload's rows (the latest non-empty value per user wins).
insert into users (user_id, gender, age_band, city, upload_id)
with seen as (
    select
        user_id,
        arg_max(gender, _row) filter (where gender is not null) as gender,
        arg_max(age_band, _row) filter (where age_band is not null) as age_band,
        arg_max(city, _row) filter (where city is not null) as city
    from canon
    where reason is null and (gender is not null or age_band is not null or city is not null)
    group by user_id
),

final as (
    select user_id, gender, age_band, city, $upload_id as upload_id from seen
)

select * from final
on conflict (user_id) do update set
    gender = coalesce(excluded.gender, users.gender),
    age_band = coalesce(excluded.age_band, users.age_band),
    city = coalesce(excluded.city, users.city)
