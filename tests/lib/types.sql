-- tests/lib/types.sql — one table of every type ferry maps, with the edge values of each.

CREATE TABLE public.types (
    id bigint PRIMARY KEY, i2 smallint, i4 integer, f4 real, f8 double precision,
    n numeric, b boolean, txt text, vc varchar(12), js jsonb, raw bytea,
    ts timestamp, tstz timestamptz, d date, u uuid, arr integer[], tarr text[], iv interval, c char(3));
INSERT INTO types VALUES
 (1, -32768, -2147483648, 'NaN', 'Infinity', 'NaN', true, E'quote " back\\ comma, tab\t nl\n cr\r end', '', '{"a":[1,null,"x"],"$k":{}}', '\x', '0001-01-01 00:00:00', 'infinity', '4713-01-01 BC', '00000000-0000-0000-0000-000000000000', '{}', '{"NULL","","a,b","q\"x"}', '-1 day', 'ab'),
 (2, 32767, 2147483647, '-Infinity', '-0', '-123456789012345678901234567890.123456789012345678901234567890', false, 'ünïcødé ✓ 日本', E'\\N', 'null', '\x00ff10', '294276-12-31 23:59:59.999999', '1999-12-31 23:59:59.5+05', '2024-02-29', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{1,NULL,3}', '{NULL}', '1 year 2 mons 3 days 04:05:06.789', 'xyz'),
 (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
 (4, 0, 0, 1.5e-30, 1e300, 0.000001, true, E'\\.\b\f\013 end\\', 'NULL', '[]', '\x5c2e', '2024-01-01 12:00:00', '-infinity', '2000-01-01', 'ffffffff-ffff-ffff-ffff-ffffffffffff', '{{1,2},{3,4}}', '{"{","}"}', '00:00:00', '  ');
INSERT INTO types SELECT g, g % 100, g, g / 7.0, g / 3.0, g * 1.05, g % 3 = 0, repeat('t', g % 50) || g,
    left(md5(g::text), 10), jsonb_build_object('g', g, 'arr', jsonb_build_array(g, g::text)),
    decode(md5(g::text), 'hex'), '2020-01-01'::timestamp + g * interval '1 second',
    '2020-01-01 00:00:00+00'::timestamptz + g * interval '1 minute 1.5 seconds',
    '2020-01-01'::date + g % 1000, md5(g::text)::uuid, ARRAY[g, -g], ARRAY['x' || g], g * interval '1 second', 'c'
FROM generate_series(5, 3000) g;
ANALYZE types;
