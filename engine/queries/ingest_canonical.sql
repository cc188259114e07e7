-- Template (filled by engine.ingest.transform): a file's text cells -> canonical typed rows + reject reason.
-- The brace slots hold SQL built from our own column names only; user values are bound parameters.
-- The relation slot is the staged table or DuckDB's read_csv of the file itself.
with source as (
    select
        {source}
    from {relation}
),

identified as (
    {identified}
),

typed as (
    select
        s.*,
        {user_id} as t_user_id,
        {referrer_id} as t_referrer_id,
        {event_time} as t_event_time,
        {quantity} as t_quantity,
        pond_number(s_price) as t_price,
        {converted} as t_converted
    from identified as s
),

timed as (
    select *, {conversion_time} as t_conversion_time
    from typed
),

typed_events as (
    select timed.*, {event_type} as t_event_type
    from timed
    {vocabulary_join}
),

valued as (
    select *, {amount} as t_amount
    from typed_events
),

checked as (
    select
        *,
        case
            when t_user_id is null then 'missing user id'
            when s_event_time is null then 'missing time'
            when t_event_time is null then 'unparseable time ''' || s_event_time || ''''
            -- any past date is taken (histories go back before 2000); what no event can carry is a
            -- placeholder: a zero unix timestamp, or the day an empty date cell of Excel or a database shows
            -- placeholder (checked in UTC and as written, in the file's zone)
            when t_event_time = timestamp '1970-01-01 00:00:00' or {local_time} = timestamp '1970-01-01 00:00:00'
                then 'placeholder date 1970-01-01 (a zero timestamp, not a real time)'
            when cast({local_time} as date) in (date '1900-01-01', date '1899-12-30', date '0001-01-01')
                then 'placeholder date ' || strftime({local_time}, '%Y-%m-%d') || ' (an empty date cell, not a real time)'
            when t_event_time > now() at time zone 'UTC' + interval 1 day
                then 'time in the future ' || strftime(t_event_time, '%Y-%m-%d') || ' (after tomorrow)'
            when t_event_type is null then 'missing event type'
            when s_quantity is not null and not coalesce(isfinite(t_quantity), false)
                then 'unparseable quantity ''' || s_quantity || ''''
            when s_amount is not null and not coalesce(isfinite(pond_number(s_amount)), false)
                then 'unparseable amount ''' || s_amount || ''''
            when s_price is not null and not coalesce(isfinite(t_price), false)
                then 'unparseable price ''' || s_price || ''''
            when t_quantity < 0 and t_event_type <> 'refund'
                then 'negative quantity ' || s_quantity || ' on a line that is not a refund'
            when t_converted is null then 'unparseable conversion flag ''' || s_converted || ''''
            when t_converted and t_conversion_time is null and s_conversion_time is null
                then 'missing conversion time'
            when t_converted and t_conversion_time is null
                then 'unparseable conversion time ''' || s_conversion_time || ''''
            when t_converted and t_conversion_time > now() at time zone 'UTC' + interval 1 day
                then 'conversion time in the future ' || strftime(t_conversion_time, '%Y-%m-%d') || ' (after tomorrow)'
        end as reason
    from valued
),

final as (
    select
        coalesce(
            {event_id},
            md5_number(concat_ws('|', t_user_id, t_event_type, cast(epoch_us(t_event_time) as varchar),
                coalesce(s_item_id, ''), coalesce(s_order_id, ''), coalesce(s_content_id, ''),
                coalesce(s_campaign_id, ''), coalesce(s_session_id, ''),
                coalesce(cast(t_quantity as varchar), ''), coalesce(cast(t_amount as varchar), '')))
        ) as event_id,
        t_event_time as event_time,
        t_user_id as user_id,
        t_event_type as event_type,
        s_item_id as item_id,
        s_category as category,
        s_content_id as content_id,
        s_campaign_id as campaign_id,
        s_channel as channel,
        s_community_id as community_id,
        t_referrer_id as referrer_id,
        s_session_id as session_id,
        s_order_id as order_id,
        t_quantity as quantity,
        t_amount as amount,
        t_price as price,
        s_item_name as item_name,
        s_brand as brand,
        s_gender as gender,
        s_age_band as age_band,
        s_city as city,
        t_converted as converted,
        t_conversion_time as conversion_time,
        {conversion_type} as conversion_type,
        {conversion_event_id} as conversion_event_id,
        reason,
        case when reason is not null then {raw} end as raw{row}
    from checked
)

select * from final
