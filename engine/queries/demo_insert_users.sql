-- Demo users with demographics and acquisition channel.
insert into users (user_id, first_seen, last_seen, acquisition_channel, gender, age_band, city, upload_id)
with final as (
    select
        'u' || lpad(cast(uid as varchar), 6, '0') as user_id,
        cast(null as timestamp) as first_seen,
        cast(null as timestamp) as last_seen,
        list_extract($channels, channel + 1) as acquisition_channel,
        case gender when 0 then 'F' else 'M' end as gender,
        list_extract($ages, age_band + 1) as age_band,
        list_extract($cities, city + 1) as city,
        $upload_id as upload_id
    from demo_users
)

select * from final
