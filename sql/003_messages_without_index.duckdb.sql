-- DuckDB only: nudgescribe.messages keeps its key (campaign_id, run_id, file_num, row_num)
-- without a PRIMARY KEY index. DuckDB's ART index lives in memory and grows with the
-- table: replacing an already loaded 5M-row run ran out of memory at the default 128MB
-- limit. Every load proves the key unique instead (each file's file_num, row_num rising
-- strictly, the run deleted first), and the no_duplicate_file_row_keys check scans for it.
-- DuckDB cannot drop a primary key, so the table is rebuilt; the views bind by name.

CREATE TABLE nudgescribe.messages_without_index (
    campaign_id TEXT NOT NULL,
    run_id TEXT NOT NULL,
    file_num INTEGER NOT NULL,
    row_num BIGINT NOT NULL,
    customer_id TEXT NOT NULL,
    message TEXT NOT NULL,
    extra TEXT,
    export_job_id TEXT,
    loaded_at TIMESTAMP WITH TIME ZONE NOT NULL
);

INSERT INTO nudgescribe.messages_without_index
SELECT campaign_id, run_id, file_num, row_num, customer_id, message, extra, export_job_id, loaded_at
FROM nudgescribe.messages;

DROP TABLE nudgescribe.messages;

ALTER TABLE nudgescribe.messages_without_index RENAME TO messages;
