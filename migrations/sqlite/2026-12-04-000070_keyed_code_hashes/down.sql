-- Voided codes stay void: there is nothing to restore.
SELECT 1;
