-- Template (filled by engine.ingest.transform): a file's text cells -> experiment assignments + reject reason.
-- The brace slots hold SQL built from our own column names only; user values are bound parameters.
with source as (
    select {user_id} as s_user_id, {experiment} as s_experiment, {variant} as s_variant,
        {time_text} as s_time, {source}
    from {relation}
),

typed as (
    select *, {assigned_at} as t_assigned_at from source
),

final as (
    select
        s_user_id as user_id, s_experiment as experiment, s_variant as variant, t_assigned_at as assigned_at,
        case
            when s_user_id is null then 'missing user id'
            when s_experiment is null then 'missing experiment'
            when s_variant is null then 'missing variant'
            when s_time is not null and t_assigned_at is null then 'unparseable time ''' || s_time || ''''
        end as reason,
        case when reason is not null then {raw} end as raw{row}
    from typed
)

select * from final
