-- New assignments: the first row per experiment and user in the file, absent from the table.
insert into experiments (experiment, user_id, variant, assigned_at, upload_id)
with firsts as (
    select * from canon_assignments
    where reason is null
    qualify row_number() over (partition by experiment, user_id order by _row) = 1
),

new_rows as (
    select f.* from firsts as f
    anti join experiments as x on x.experiment = f.experiment and x.user_id = f.user_id
),

final as (
    select experiment, user_id, variant, assigned_at, $upload_id as upload_id from new_rows
)

select * from final
