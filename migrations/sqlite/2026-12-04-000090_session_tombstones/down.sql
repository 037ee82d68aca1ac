DROP TABLE session_tombstones;
