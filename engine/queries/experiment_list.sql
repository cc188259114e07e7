-- Experiments in the assignments table with their variants and size.
with final as (
    select
        experiment,
        list(distinct variant order by variant) as variants,
        count(*) as users,
        min(assigned_at) as first_assigned,
        max(assigned_at) as last_assigned
    from experiments
    group by experiment
)

select * from final order by experiment
