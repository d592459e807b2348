-- Profile values gain the customer's workspace, typed copies of the text value by the
-- field's field_type, and whether the value arrived encrypted. Rows loaded before are
-- typed here by the rules of nudge_pipeline/warehouse/profile_values.py (the same rules,
-- in SQL; tests/warehouse/test_analysts.py checks the two agree). This file is DuckDB's:
-- PostgreSQL has no TRY_CAST and SQLite no regular expressions.

ALTER TABLE nudgescribe.customer_profile_values ADD COLUMN workspace_id TEXT;

ALTER TABLE nudgescribe.customer_profile_values ADD COLUMN value_number DOUBLE PRECISION;

ALTER TABLE nudgescribe.customer_profile_values ADD COLUMN value_boolean BOOLEAN;

ALTER TABLE nudgescribe.customer_profile_values ADD COLUMN value_date DATE;

ALTER TABLE nudgescribe.customer_profile_values ADD COLUMN is_encrypted BOOLEAN;

-- The value arrived encrypted when the customer's extended_profile holds ciphertext under
-- the field's name (a JSON pointer, so any name is looked up exactly).
UPDATE nudgescribe.customer_profile_values AS v
SET workspace_id = cu.workspace_id,
    is_encrypted = COALESCE(
        starts_with(
            json_extract_string(
                cu.extended_profile,
                '/' || replace(replace(v.field_name, '~', '~0'), '/', '~1')
            ),
            'enc:v1:'
        ),
        false
    )
FROM nudgescribe.customers AS cu
WHERE cu.customer_group_id = v.customer_group_id AND cu.customer_id = v.customer_id;

UPDATE nudgescribe.customer_profile_values
SET value_number = CASE
        WHEN field_type = 'number'
            AND length(trim(value)) <= 100
            AND regexp_full_match(trim(value), '[-+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]{1,2})?')
        THEN CAST(trim(value) AS DOUBLE PRECISION)
    END,
    value_boolean = CASE
        WHEN field_type = 'boolean' AND lower(trim(value)) IN ('true', 'false')
        THEN lower(trim(value)) = 'true'
    END,
    value_date = CASE
        WHEN field_type = 'date'
            AND regexp_full_match(trim(value), '[0-9]{4}-[0-9]{2}-[0-9]{2}')
            AND substr(trim(value), 1, 4) <> '0000'
        THEN TRY_CAST(trim(value) AS DATE)
    END
WHERE value IS NOT NULL AND field_type IN ('number', 'boolean', 'date');
