-- The members of one retention cell and whether they came back in period $n (see retention_matrix).
with members as (
    {members}
),

final as (
    select
        m.user_id,
        m.segment,
        m.cohort,
        case
            when $n = 0 then true
            when $mode = 'on' then list_contains(m.returns, $n)
            else m.last_n >= $n
        end as came_back,
        m.last_n as last_period_seen,
        u.acquisition_channel,
        u.first_seen,
        u.last_seen
    from members as m
    left join users as u on u.user_id = m.user_id
    where m.segment = $segment and m.cohort = $cohort
)

select * from final order by came_back desc, user_id
