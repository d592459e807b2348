-- SQLite: as 005_message_file_sizes_and_lake_root.sql, with instr for strpos.

-- message_files says which bytes it counts, and lake_path is relative to a lake root that
-- is recorded once, in nudgescribe.lake, so a moved lake changes one row.
-- byte_count stays (it always counted the CSV bytes) so that existing queries keep working.

ALTER TABLE nudgescribe.message_files ADD COLUMN csv_byte_count BIGINT;

ALTER TABLE nudgescribe.message_files ADD COLUMN parquet_byte_count BIGINT;

UPDATE nudgescribe.message_files SET csv_byte_count = byte_count;

CREATE TABLE nudgescribe.lake (
    lake_id INTEGER NOT NULL CHECK (lake_id = 1),
    lake_root TEXT NOT NULL,
    recorded_at TIMESTAMP WITH TIME ZONE NOT NULL,
    PRIMARY KEY (lake_id)
);

-- Paths stored before held the root in front of the lake layout
-- (<root>/messages/campaign_id=...). The root of the most recently fetched file is kept;
-- rows under another root keep their full path.
INSERT INTO nudgescribe.lake (lake_id, lake_root, recorded_at)
SELECT 1, substr(lake_path, 1, instr(lake_path, '/messages/campaign_id=') - 1), CURRENT_TIMESTAMP
FROM (
    SELECT lake_path
    FROM nudgescribe.message_files
    WHERE instr(lake_path, '/messages/campaign_id=') > 1
    ORDER BY fetched_at DESC NULLS LAST, lake_path
    LIMIT 1
) AS latest;

UPDATE nudgescribe.message_files
SET lake_path = substr(lake_path, (SELECT length(lake_root) FROM nudgescribe.lake) + 2)
WHERE substr(lake_path, 1, (SELECT length(lake_root) FROM nudgescribe.lake) + 22)
    = (SELECT lake_root FROM nudgescribe.lake) || '/messages/campaign_id=';
