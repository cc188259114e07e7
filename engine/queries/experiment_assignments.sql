-- Every assignment: the experiments table, plus campaign ids of the form EXPERIMENT:VARIANT on
-- events (a user's variant is the one on their first such event; the table wins where both exist).
-- (string_split, not split_part: DuckDB 2.0 fails to bind split_part here when campaign_id is
-- all NULL, as it is in warehouses without campaigns)
with from_campaigns as (
    select
        string_split(campaign_id, ':')[1] as experiment,
        user_id,
        arg_min(string_split(campaign_id, ':')[2], event_time) as variant,
        min(event_time) as assigned_at
    from events
    where campaign_id like '%_:_%'
    group by 1, 2
),

combined as (
    select experiment, user_id, variant, assigned_at from experiments
    union all
    select c.experiment, c.user_id, c.variant, c.assigned_at
    from from_campaigns as c
    anti join experiments as x on x.experiment = c.experiment and x.user_id = c.user_id
)

select * from combined
