-- Core tables of the nudgescribe warehouse schema. Every id is text: ids from the API are
-- strings and customer ids carry leading zeros. Timestamps are UTC.

CREATE TABLE IF NOT EXISTS nudgescribe.campaigns (
    campaign_id TEXT NOT NULL,
    workspace_id TEXT,
    workspace_name TEXT,
    campaign_name TEXT,
    customer_group_id TEXT,
    status TEXT,
    stage TEXT,
    start_date DATE,
    end_date DATE,
    created_at TIMESTAMP WITH TIME ZONE,
    updated_at TIMESTAMP WITH TIME ZONE,
    synced_at TIMESTAMP WITH TIME ZONE NOT NULL,
    PRIMARY KEY (campaign_id)
);

CREATE TABLE IF NOT EXISTS nudgescribe.campaign_runs (
    campaign_id TEXT NOT NULL,
    run_id TEXT NOT NULL,
    run_number INTEGER,
    status TEXT,
    started_at TIMESTAMP WITH TIME ZONE,
    completed_at TIMESTAMP WITH TIME ZONE,
    message_count BIGINT,
    synced_at TIMESTAMP WITH TIME ZONE NOT NULL,
    PRIMARY KEY (campaign_id, run_id)
);

CREATE TABLE IF NOT EXISTS nudgescribe.messages (
    campaign_id TEXT NOT NULL,
    run_id TEXT NOT NULL,
    file_num INTEGER NOT NULL,
    row_num BIGINT NOT NULL,
    customer_id TEXT NOT NULL,
    message TEXT NOT NULL,
    extra TEXT,
    export_job_id TEXT,
    loaded_at TIMESTAMP WITH TIME ZONE NOT NULL,
    PRIMARY KEY (campaign_id, run_id, file_num, row_num)
);

CREATE TABLE IF NOT EXISTS nudgescribe.message_files (
    campaign_id TEXT NOT NULL,
    run_id TEXT NOT NULL,
    file_num INTEGER NOT NULL,
    row_count BIGINT NOT NULL,
    byte_count BIGINT,
    sha256 TEXT,
    lake_path TEXT NOT NULL,
    export_job_id TEXT,
    fetched_at TIMESTAMP WITH TIME ZONE,
    PRIMARY KEY (campaign_id, run_id, file_num)
);

CREATE TABLE IF NOT EXISTS nudgescribe.customer_groups (
    customer_group_id TEXT NOT NULL,
    account_id TEXT,
    workspace_id TEXT,
    group_name TEXT,
    created_at TIMESTAMP WITH TIME ZONE,
    updated_at TIMESTAMP WITH TIME ZONE,
    created_by TEXT,
    updated_by TEXT,
    synced_at TIMESTAMP WITH TIME ZONE NOT NULL,
    PRIMARY KEY (customer_group_id)
);

CREATE TABLE IF NOT EXISTS nudgescribe.customers (
    customer_group_id TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    account_id TEXT,
    workspace_id TEXT,
    extended_profile TEXT,
    created_at TIMESTAMP WITH TIME ZONE,
    updated_at TIMESTAMP WITH TIME ZONE,
    created_by TEXT,
    updated_by TEXT,
    synced_at TIMESTAMP WITH TIME ZONE NOT NULL,
    PRIMARY KEY (customer_group_id, customer_id)
);

CREATE TABLE IF NOT EXISTS nudgescribe.customer_profile_fields (
    field_id TEXT NOT NULL,
    workspace_id TEXT,
    field_name TEXT,
    field_type TEXT,
    is_custom BOOLEAN,
    created_at TIMESTAMP WITH TIME ZONE,
    updated_at TIMESTAMP WITH TIME ZONE,
    synced_at TIMESTAMP WITH TIME ZONE NOT NULL,
    PRIMARY KEY (field_id)
);

CREATE TABLE IF NOT EXISTS nudgescribe.customer_profile_values (
    customer_group_id TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    field_name TEXT NOT NULL,
    value TEXT,
    field_type TEXT,
    PRIMARY KEY (customer_group_id, customer_id, field_name)
);
