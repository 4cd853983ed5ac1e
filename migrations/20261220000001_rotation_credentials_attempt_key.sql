-- Each attempt writes exactly one credential (its pending secret), so attempt_id is unique; saying
-- so lets the planner find an attempt's credential with one index probe. With the plain index and
-- young statistics it chose a BitmapAnd with the partial `rotation_credentials_pending_key`
-- instead, and a bitmap scan of a partial index walks every entry the index still holds for rows
-- that have since left 'pending' (bitmap scans never mark index entries dead): the finishing step
-- of a rotation grew to ~2.5 ms of PostgreSQL CPU after 10,000 rotations between vacuums
-- (bench/rotations, found with auto_explain).
drop index rotation_credentials_attempt_idx;
create unique index rotation_credentials_attempt_key on rotation_credentials (attempt_id);
