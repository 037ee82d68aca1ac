DROP INDEX sessions_user_live;
