-- Schema version 4: an n-gram index on the lowered body, so that a
-- case-insensitive text search (`LogQuery::contains`, `chlog logs --grep`)
-- skips the granules that cannot hold the text (docs/scale.md).
--
-- Parts written from now on carry the index; the parts already there are
-- searched as before (read whole) until they are merged or expire. To index
-- them at once (it reads every body of `logs`: minutes on a large table,
-- in the background), run
--     ALTER TABLE logs MATERIALIZE INDEX idx_body_lower
-- (`logs_local` on a cluster). Safe to repeat.

ALTER TABLE {{database}}.logs
    ADD INDEX IF NOT EXISTS idx_body_lower lowerUTF8(Body) TYPE ngrambf_v1(3, 8192, 2, 0) GRANULARITY 1;
