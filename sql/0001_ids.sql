-- timestamp_id(table_name): 64-bit ids that sort by creation time, as
-- Mastodon's (lib/mastodon/snowflake.rb) are:
--
--   bits 63..16  milliseconds since the Unix epoch (clock_timestamp(), so
--                ids taken inside one transaction still advance)
--   bits 15..0   (hash(table, secret salt, millisecond) + nextval(<table>_id_seq))
--                mod 2^16
--
-- Within one millisecond the low bits come from a sequence, so concurrent
-- inserts never collide (up to 65536 ids per table and millisecond); the
-- hash offset keeps the low bits from revealing how many rows a table has.
-- The salt is drawn once, when this migration runs, and lives only in the
-- function's body.  Each table using it needs its own <table>_id_seq; the
-- migration that creates the table creates the sequence.
DO $migration$
BEGIN
  EXECUTE format($create$
    CREATE OR REPLACE FUNCTION timestamp_id(table_name text)
    RETURNS bigint
    LANGUAGE plpgsql VOLATILE
    AS $body$
    DECLARE
      millis bigint := floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint;
      offset_bits bigint;
    BEGIN
      offset_bits := ('x' || substr(md5(table_name || %L || millis::text), 1, 4))::bit(16)::bigint;
      RETURN (millis << 16) | ((offset_bits + nextval(table_name || '_id_seq')) & 65535);
    END
    $body$
  $create$, md5(gen_random_uuid()::text));
END
$migration$;
