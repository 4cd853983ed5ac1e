-- Leave a fifth of each page free for a row's next version, so that an update that changes no
-- indexed column stays on its page as a HOT update: no new entry in any of the table's indexes,
-- and less WAL. Starting an attempt (`current_attempt_id` on secret_rotations) and finishing one
-- (`step`, `outcome` on rotation_attempts) are such updates, once per rotation each; on full pages
-- (a table filled by inserts) each went to every index: five on secret_rotations, two on
-- rotation_attempts. Pages already full keep their layout until they are rewritten (VACUUM FULL);
-- new pages, and pages vacuum frees, get the room.
alter table secret_rotations set (fillfactor = 80);
alter table rotation_attempts set (fillfactor = 80);
