-- Demo events: integer codes from engine.demo become ids, names and UTC times.
insert into events
with numbered as (
    select row_number() over () as seq, * from demo_events
),

final as (
    select
        md5_number('demo|' || $seed || '|' || seq) as event_id,
        $base + to_microseconds(cast(e.t * 86400000000 as bigint)) as event_time,
        'u' || lpad(cast(e.uid as varchar), 6, '0') as user_id,
        list_extract($types, e.etype + 1) as event_type,
        case when e.item >= 0 then 'i' || lpad(cast(e.item as varchar), 5, '0') end as item_id,
        case when e.item >= 0 then list_extract($categories, i.category + 1) end as category,
        case when e.content >= 0 then 'c' || lpad(cast(e.content as varchar), 5, '0') end as content_id,
        case when e.campaign >= 0 then 'cmp' || lpad(cast(e.campaign + 1 as varchar), 2, '0') end
            as campaign_id,
        case when e.chan >= 0 then list_extract($channels, e.chan + 1) end as channel,
        case when e.grp >= 0 then 'g' || lpad(cast(e.grp + 1 as varchar), 2, '0') end as community_id,
        case when e.referrer >= 0 then 'u' || lpad(cast(e.referrer as varchar), 6, '0') end as referrer_id,
        case when e.sess >= 0 then 's' || cast(e.sess as varchar) end as session_id,
        case when e.order_no >= 0 then 'o' || lpad(cast(e.order_no as varchar), 7, '0') end as order_id,
        e.quantity,
        e.amount,
        $upload_id as upload_id
    from numbered as e
    left join demo_items as i on i.item = e.item
)

select * from final
