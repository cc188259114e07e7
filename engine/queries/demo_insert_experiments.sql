-- Demo experiment assignments: new_checkout (treatment converts better) and an A/A test.
insert into experiments (experiment, user_id, variant, assigned_at, upload_id)
with assigned as (
    select
        'u' || lpad(cast(uid as varchar), 6, '0') as user_id,
        $base + to_microseconds(cast(signup * 86400000000 as bigint)) as assigned_at,
        checkout_variant,
        aa_variant
    from demo_users
),

final as (
    select 'new_checkout' as experiment, user_id,
        case checkout_variant when 1 then 'treatment' else 'control' end as variant, assigned_at,
        $upload_id as upload_id
    from assigned
    union all
    select 'homepage_banner_aa', user_id, case aa_variant when 1 then 'B' else 'A' end, assigned_at,
        $upload_id
    from assigned
)

select * from final
