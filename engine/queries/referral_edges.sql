-- Who brought whom: one edge per referred user (their earliest event naming a referrer), with both
-- ends' acquisition channel and all-time GMV. Spliced into k_factor, so its CTEs are named referral_*.
with referral_first as (
    select user_id, arg_min(referrer_id, event_time) as referrer_id, min(event_time) as referred_at
    from events
    where referrer_id is not null and referrer_id <> user_id
    group by user_id
),

referral_gmv as (
    select user_id, cast(sum(cast(gmv as decimal(18, 4))) as double) as gmv from user_day group by user_id
),

referral_final as (
    select
        r.referrer_id, r.user_id, r.referred_at,
        coalesce(u.acquisition_channel, '(unknown)') as referrer_channel,
        coalesce(g.gmv, 0) as user_gmv
    from referral_first as r
    left join users as u on u.user_id = r.referrer_id
    left join referral_gmv as g on g.user_id = r.user_id
)

select * from referral_final order by referrer_id, user_id
