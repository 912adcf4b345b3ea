-- Bytes per row of the two tables the readings fill (device_rollup, device_evidence), measured on a
-- sample in TEMP tables shaped as migrations/0021 makes them (nothing else is touched):
--   psql "postgres://gmid@127.0.0.1:55432/gmid" -f bench/devices_storage.sql
CREATE TEMP TABLE rollup_sample (
    id BIGSERIAL PRIMARY KEY, device_id BIGINT NOT NULL, metric VARCHAR(32) NOT NULL, hour TIMESTAMPTZ NOT NULL,
    count INT NOT NULL, min_value DOUBLE PRECISION NOT NULL, max_value DOUBLE PRECISION NOT NULL,
    sum_value DOUBLE PRECISION NOT NULL, last_value DOUBLE PRECISION NOT NULL, last_at TIMESTAMPTZ NOT NULL,
    UNIQUE (device_id, metric, hour)
);
CREATE TEMP TABLE evidence_sample (
    id BIGSERIAL PRIMARY KEY, device_id BIGINT NOT NULL, metric VARCHAR(32) NOT NULL, at TIMESTAMPTZ NOT NULL,
    value DOUBLE PRECISION NOT NULL, UNIQUE (device_id, metric, at)
);
-- 2,000 devices x 2 metrics x 24 hours; 1,000 alarms x 2 metrics x 60 readings.
INSERT INTO rollup_sample (device_id, metric, hour, count, min_value, max_value, sum_value, last_value, last_at)
SELECT d, m, timestamptz '2026-12-01' + h * interval '1 hour', 60, random() * 5, 5 + random() * 5,
       300 + random() * 100, random() * 10, timestamptz '2026-12-01' + h * interval '1 hour' + interval '59 minutes'
FROM generate_series(1, 2000) d, unnest(array['gas_lel_pct', 'battery_pct']) m, generate_series(0, 23) h;
INSERT INTO evidence_sample (device_id, metric, at, value)
SELECT d, m, timestamptz '2026-12-01' + n * interval '1 minute', random() * 30
FROM generate_series(1, 1000) d, unnest(array['gas_lel_pct', 'battery_pct']) m, generate_series(0, 59) n;
VACUUM ANALYZE rollup_sample;
VACUUM ANALYZE evidence_sample;
SELECT 'device_rollup' AS "table", count(*) AS rows,
       round(avg(pg_column_size(r.*))) AS row_bytes,
       pg_total_relation_size('rollup_sample') AS total_bytes,
       round(pg_total_relation_size('rollup_sample')::numeric / count(*)) AS bytes_per_row_with_indexes
FROM rollup_sample r
UNION ALL
SELECT 'device_evidence', count(*), round(avg(pg_column_size(e.*))), pg_total_relation_size('evidence_sample'),
       round(pg_total_relation_size('evidence_sample')::numeric / count(*))
FROM evidence_sample e;
