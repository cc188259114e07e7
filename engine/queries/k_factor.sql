-- Viral coefficient per $period and referrer channel: users brought in by referrals during the
-- period divided by the users active in it (from that channel).
with referred as (
    select
        cast(date_trunc($period, cast((r.referred_at at time zone 'UTC') at time zone $tz as date)) as date)
            as period,
        coalesce(u.acquisition_channel, '(unknown)') as channel,
        count(*) as referred_users
    from ({edges}) as r
    left join users as u on u.user_id = r.referrer_id
    group by 1, 2
),

active as (
    select cast(date_trunc($period, d.day) as date) as period,
        coalesce(u.acquisition_channel, '(unknown)') as channel,
        count(distinct d.user_id) as active_users
    from user_day as d
    join users as u on u.user_id = d.user_id
    where d.actions > 0
    group by 1, 2
),

final as (
    select a.period, a.channel, a.active_users, coalesce(r.referred_users, 0) as referred_users,
        coalesce(r.referred_users, 0) / a.active_users as k_factor
    from active as a
    left join referred as r on r.period = a.period and r.channel = a.channel
)

select * from final order by period, channel
