-- Demographics carried by this upload's rows (the latest non-empty value per user wins).
create or replace temp table seen_user_attributes as
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
    select * from seen
)

select * from final
