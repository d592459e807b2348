-- SQLite: the columns of 006_typed_profile_values and the workspace of each value. SQLite
-- has no regular expressions to type old values by, so their typed columns and
-- is_encrypted stay NULL until the customer group is loaded again; new loads are typed in
-- Python (warehouse/profile_values.py).

ALTER TABLE nudgescribe.customer_profile_values ADD COLUMN workspace_id TEXT;

ALTER TABLE nudgescribe.customer_profile_values ADD COLUMN value_number DOUBLE PRECISION;

ALTER TABLE nudgescribe.customer_profile_values ADD COLUMN value_boolean BOOLEAN;

ALTER TABLE nudgescribe.customer_profile_values ADD COLUMN value_date DATE;

ALTER TABLE nudgescribe.customer_profile_values ADD COLUMN is_encrypted BOOLEAN;

UPDATE nudgescribe.customer_profile_values
SET workspace_id = (
    SELECT cu.workspace_id
    FROM nudgescribe.customers AS cu
    WHERE cu.customer_group_id = customer_profile_values.customer_group_id
        AND cu.customer_id = customer_profile_values.customer_id
);
