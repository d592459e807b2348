-- The analyst views, recreated: campaign_messages over the JSON columns of sql/007,
-- campaign_run_summary with each run's load status (and file_row_count a BIGINT, not
-- the wider type SUM gives), and the new customer_profiles.

DROP VIEW IF EXISTS nudgescribe.campaign_messages;

DROP VIEW IF EXISTS nudgescribe.campaign_run_summary;

CREATE VIEW nudgescribe.campaign_messages AS
SELECT
    m.campaign_id,
    m.run_id,
    r.run_number,
    m.file_num,
    m.row_num,
    m.customer_id,
    m.message,
    m.extra,
    c.campaign_name,
    c.workspace_id,
    c.workspace_name,
    c.stage AS campaign_stage,
    c.status AS campaign_status,
    c.customer_group_id,
    cu.extended_profile,
    m.export_job_id,
    m.loaded_at
FROM nudgescribe.messages AS m
LEFT JOIN nudgescribe.campaign_runs AS r
    ON r.campaign_id = m.campaign_id AND r.run_id = m.run_id
LEFT JOIN nudgescribe.campaigns AS c
    ON c.campaign_id = m.campaign_id
LEFT JOIN nudgescribe.customers AS cu
    ON cu.customer_group_id = c.customer_group_id AND cu.customer_id = m.customer_id;

-- A run is known from the API (campaign_runs), from files that landed (message_files) or
-- from a load attempt (campaign_run_status); without a status row it is 'pending'.
CREATE VIEW nudgescribe.campaign_run_summary AS
WITH run_keys AS (
    SELECT campaign_id, run_id FROM nudgescribe.campaign_runs
    UNION
    SELECT campaign_id, run_id FROM nudgescribe.message_files
    UNION
    SELECT campaign_id, run_id FROM nudgescribe.campaign_run_status
),
file_stats AS (
    SELECT
        campaign_id,
        run_id,
        COUNT(*) AS file_count,
        SUM(row_count) AS file_row_count,
        MAX(fetched_at) AS last_fetched_at
    FROM nudgescribe.message_files
    GROUP BY campaign_id, run_id
),
message_stats AS (
    SELECT
        campaign_id,
        run_id,
        COUNT(*) AS loaded_message_count,
        COUNT(DISTINCT customer_id) AS distinct_customers,
        MAX(loaded_at) AS last_loaded_at
    FROM nudgescribe.messages
    GROUP BY campaign_id, run_id
)
SELECT
    k.campaign_id,
    k.run_id,
    c.campaign_name,
    c.workspace_id,
    c.workspace_name,
    r.run_number,
    r.status AS run_status,
    r.started_at,
    r.completed_at,
    r.message_count AS expected_message_count,
    COALESCE(f.file_count, 0) AS file_count,
    CAST(COALESCE(f.file_row_count, 0) AS BIGINT) AS file_row_count,
    COALESCE(ms.loaded_message_count, 0) AS loaded_message_count,
    COALESCE(ms.distinct_customers, 0) AS distinct_customers,
    f.last_fetched_at,
    ms.last_loaded_at,
    COALESCE(s.load_status, 'pending') AS load_status,
    s.load_reason,
    s.last_attempt_at
FROM run_keys AS k
LEFT JOIN nudgescribe.campaign_runs AS r
    ON r.campaign_id = k.campaign_id AND r.run_id = k.run_id
LEFT JOIN nudgescribe.campaigns AS c
    ON c.campaign_id = k.campaign_id
LEFT JOIN file_stats AS f
    ON f.campaign_id = k.campaign_id AND f.run_id = k.run_id
LEFT JOIN message_stats AS ms
    ON ms.campaign_id = k.campaign_id AND ms.run_id = k.run_id
LEFT JOIN nudgescribe.campaign_run_status AS s
    ON s.campaign_id = k.campaign_id AND s.run_id = k.run_id;

-- One row per profile value (the key of customer_profile_values), never more: the field
-- definition is matched on the value's workspace and field name, one definition per
-- pair (the latest updated), so a field defined twice cannot repeat a value.
CREATE VIEW nudgescribe.customer_profiles AS
WITH field_definitions AS (
    SELECT
        workspace_id,
        field_name,
        field_id,
        is_custom,
        ROW_NUMBER() OVER (
            PARTITION BY workspace_id, field_name ORDER BY updated_at DESC NULLS LAST, field_id
        ) AS definition_rank
    FROM nudgescribe.customer_profile_fields
)
SELECT
    cu.customer_group_id,
    cu.customer_id,
    cu.workspace_id,
    cu.account_id,
    v.field_name,
    f.field_id,
    v.field_type,
    f.is_custom,
    v.is_encrypted,
    v.value,
    v.value_number,
    v.value_boolean,
    v.value_date,
    cu.synced_at
FROM nudgescribe.customers AS cu
JOIN nudgescribe.customer_profile_values AS v
    ON v.customer_group_id = cu.customer_group_id AND v.customer_id = cu.customer_id
LEFT JOIN field_definitions AS f
    ON f.workspace_id = v.workspace_id
    AND f.field_name = v.field_name
    AND f.definition_rank = 1;
