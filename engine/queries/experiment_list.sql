-- Experiments (assignments table and EXPERIMENT:VARIANT campaign ids) with their variants and size.
-- all_assignments is experiment_assignments.sql, spliced in by engine.warehouse.compose_query.
with all_assignments as (
    {assignments}
),

final as (
    select
        experiment,
        list_sort(list(distinct variant)) as variants,
        count(*) as users,
        min(assigned_at) as first_assigned,
        max(assigned_at) as last_assigned
    from all_assignments
    group by experiment
)

select * from final order by experiment
