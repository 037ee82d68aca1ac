ALTER TABLE outbox DROP COLUMN purpose;
