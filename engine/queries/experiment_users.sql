-- One row per user assigned in experiment $experiment: variant, and what they did after assignment.
-- all_assignments is experiment_assignments.sql, spliced in by engine.warehouse.compose_query.
with all_assignments as (
    {assignments}
),

assigned as (
    select user_id, variant, coalesce(assigned_at, (select min(event_time) from events)) as assigned_at
    from all_assignments
    where experiment = $experiment
),

after as (
    select
        a.user_id,
        count(*) filter (where e.event_type = 'purchase') as purchases,
        coalesce(cast(sum(cast(e.amount as decimal(18, 4))) filter (where e.event_type = 'purchase') as double), 0) as gmv,
        count(*) filter (where e.event_type = 'impression') as impressions,
        count(*) filter (where e.event_type = 'click') as clicks
    from assigned as a
    join events as e on e.user_id = a.user_id and e.event_time >= a.assigned_at
    group by a.user_id
),

final as (
    select
        a.user_id, a.variant, a.assigned_at,
        coalesce(f.purchases, 0) as purchases,
        coalesce(f.gmv, 0) as gmv,
        coalesce(f.impressions, 0) as impressions,
        coalesce(f.clicks, 0) as clicks
    from assigned as a
    left join after as f on f.user_id = a.user_id
)

select * from final
