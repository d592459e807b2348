-- What became of each campaign run's load, written by the landing engine through
-- Warehouse.record_run_statuses. A run without a row here has not been attempted yet
-- (campaign_run_summary reads it as 'pending').

CREATE TABLE nudgescribe.campaign_run_status (
    campaign_id TEXT NOT NULL,
    run_id TEXT NOT NULL,
    load_status TEXT NOT NULL CHECK (load_status IN ('loaded', 'skipped', 'pending', 'failed')),
    load_reason TEXT,
    last_attempt_at TIMESTAMP WITH TIME ZONE NOT NULL,
    export_job_id TEXT,
    PRIMARY KEY (campaign_id, run_id)
);
