# tests/lib/blob.sh — checks every blob store's test makes: the same bytes as the dir sink, and the objects a
# state says were written. Source it after common.sh and the store's own library (s3.sh, azure.sh).
#
#   blob_like_dir KIND PREFIX LABEL   types.sql through the dir sink and through the KIND store
#                                     (write_KIND_config, under PREFIX/<variant>), for NDJSON plain, gzip,
#                                     zstd and CSV; the caller's `fetch SUBPREFIX DIR` reads objects back.
#                                     Four assertions a variant.
#   blob_segments STATE TABLE         the segment names STATE says were written (sequences 0 .. next_seq-1
#                                     of each partition) and the table's manifest, sorted

blob_like_dir() {
    local kind=$1 prefix=$2 label=$3 variant format compression name ini
    for variant in "ndjson none" "ndjson gzip" "ndjson zstd" "csv none"; do
        read -r format compression <<< "$variant"
        name=$format-$compression
        write_config "$WORK/dir-$name.ini" "$WORK/dir-$name" "$format"
        sed -i "s|^format = $format\$|&\ncompression = $compression|" "$WORK/dir-$name.ini"
        "write_${kind}_config" "$WORK/$kind-$name.ini" "format = $format
compression = $compression"
        sed -i "s|^prefix = .*|prefix = $prefix/$name|" "$WORK/$kind-$name.ini"
        for ini in "$WORK/dir-$name.ini" "$WORK/$kind-$name.ini"; do
            printf '[table public.types]\npartition_rows = 1000\n' >> "$ini"
            "$FERRY" run -c "$ini" > "$ini.log" 2>&1
            is "$?" 0 "types ($name): $(basename "$ini" .ini) run exits 0"
        done
        fetch "$name/" "$WORK/got-$name"
        # Each folder's owner marker names its own job: the rows' objects are what must match.
        if diff -r -x .ferry-owner "$WORK/dir-$name" "$WORK/got-$name" >/dev/null; then
            ok 0 "types ($name): the objects, read back with $label, are the dir sink's files byte for byte ($(find "$WORK/got-$name" -type f | wc -l) objects)"
        else
            ok 1 "types ($name): the objects are the dir sink's files"
            diff -r -x .ferry-owner "$WORK/dir-$name" "$WORK/got-$name" | head -5 | sed 's/^/# /'
        fi
        "$FERRY" verify -c "$WORK/$kind-$name.ini" > "$WORK/verify-$name.log" 2>&1
        is "$?" 0 "types ($name): ferry verify agrees with the source"
    done
}

blob_segments() {
    local state=$1 table=$2
    sqlite3 "$state" "WITH RECURSIVE s(part, seq, last) AS (SELECT part, 0, next_seq FROM partitions WHERE next_seq > 0
        UNION ALL SELECT part, seq + 1, last FROM s WHERE seq + 1 < last)
        SELECT printf('$table.p%06d.s%08d.ndjson', part, seq) FROM s UNION ALL SELECT '$table.manifest'
        UNION ALL SELECT '.ferry-owner' ORDER BY 1"
}
