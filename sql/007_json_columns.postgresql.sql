-- messages.extra and customers.extended_profile become jsonb, so analysts can use the JSON
-- operators (->, ->>, @>) without a cast. Every value the pipeline wrote is JSON text; a
-- value that is not fails the migration (nothing is changed) rather than being altered.
-- PostgreSQL rewrites both tables on disk. A column a view uses cannot change type, so
-- campaign_messages goes first; sql/008 recreates it.

DROP VIEW nudgescribe.campaign_messages;

ALTER TABLE nudgescribe.messages ALTER COLUMN extra TYPE jsonb USING CAST(extra AS jsonb);

ALTER TABLE nudgescribe.customers
    ALTER COLUMN extended_profile TYPE jsonb USING CAST(extended_profile AS jsonb);
