/* RecordBatch v2 validation (layout in batch.h).
 *
 * Two strengths of check share one header parser: log_batch_parse() is the
 * lenient check used on data read back from disk, where compaction may leave
 * fewer records than offsets; log_batches_validate() is the strict check
 * that Kafka applies to what producers send. Neither decodes the records
 * themselves: the CRC protects them, and decoding (or decompressing) every
 * record would cost more than the whole append path. */
#include "storage/batch.h"

#include "simd/simd.h"

const char *log_batch_strerror(int code)
{
    switch (code) {
    case LOG_EBATCH_LENGTH:
        return "bad batch length";
    case LOG_EBATCH_MAGIC:
        return "bad magic";
    case LOG_EBATCH_CRC:
        return "CRC mismatch";
    case LOG_EBATCH_CORRUPT:
        return "corrupt batch header";
    default:
        return "unknown";
    }
}

int log_batch_header_parse(const uint8_t *hdr, size_t avail,
                           log_batch_info_t *info)
{
    int32_t length, delta, records;
    int16_t attributes;

    /* The magic byte decides how to read everything else, so report a
     * wrong magic even when the rest of the header is missing. */
    if (avail <= LOG_BATCH_OFF_MAGIC)
        return LOG_EBATCH_LENGTH;
    if (hdr[LOG_BATCH_OFF_MAGIC] != LOG_BATCH_MAGIC)
        return LOG_EBATCH_MAGIC;
    if (avail < LOG_BATCH_HEADER_SIZE)
        return LOG_EBATCH_LENGTH;
    length = (int32_t)st_be32(hdr + LOG_BATCH_OFF_LENGTH);
    /* Keeping total <= INT32_MAX lets every size stay an int32. */
    if (length < LOG_BATCH_MIN_LENGTH ||
        length > INT32_MAX - LOG_BATCH_PREFIX_SIZE)
        return LOG_EBATCH_LENGTH;
    delta = (int32_t)st_be32(hdr + LOG_BATCH_OFF_LAST_OFFSET_DELTA);
    records = (int32_t)st_be32(hdr + LOG_BATCH_OFF_RECORDS);
    attributes = (int16_t)st_be16(hdr + LOG_BATCH_OFF_ATTRIBUTES);
    if (delta < 0 || records < 0 || (int64_t)records > (int64_t)delta + 1)
        return LOG_EBATCH_CORRUPT;
    if ((attributes & LOG_BATCH_ATTR_CODEC_MASK) > LOG_BATCH_CODEC_MAX)
        return LOG_EBATCH_CORRUPT;
    if ((attributes & LOG_BATCH_ATTR_CODEC_MASK) == 0 &&
        (int64_t)records * LOG_RECORD_MIN_SIZE > length - LOG_BATCH_MIN_LENGTH)
        return LOG_EBATCH_CORRUPT;
    if (info) {
        info->base_offset = (int64_t)st_be64(hdr + LOG_BATCH_OFF_BASE_OFFSET);
        info->length = length + LOG_BATCH_PREFIX_SIZE;
        info->last_offset_delta = delta;
        info->base_ts = (int64_t)st_be64(hdr + LOG_BATCH_OFF_BASE_TS);
        info->max_ts = (int64_t)st_be64(hdr + LOG_BATCH_OFF_MAX_TS);
        info->producer_id = (int64_t)st_be64(hdr + LOG_BATCH_OFF_PRODUCER_ID);
        info->producer_epoch =
            (int16_t)st_be16(hdr + LOG_BATCH_OFF_PRODUCER_EPOCH);
        info->base_sequence =
            (int32_t)st_be32(hdr + LOG_BATCH_OFF_BASE_SEQUENCE);
        info->records = records;
        info->attributes = attributes;
    }
    return length + LOG_BATCH_PREFIX_SIZE;
}

int log_batch_parse(const uint8_t *buf, size_t len, bool check_crc,
                    log_batch_info_t *info)
{
    int total = log_batch_header_parse(buf, len, info);

    if (total < 0)
        return total;
    if ((size_t)total > len)
        return LOG_EBATCH_LENGTH;
    if (check_crc && simd_crc32c(0, buf + LOG_BATCH_OFF_ATTRIBUTES,
                                 (size_t)total - LOG_BATCH_OFF_ATTRIBUTES) !=
                         st_be32(buf + LOG_BATCH_OFF_CRC))
        return LOG_EBATCH_CRC;
    return total;
}

int log_batches_validate(const uint8_t *buf, size_t len,
                         log_batches_summary_t *out)
{
    log_batches_summary_t sum = {.max_ts = -1};
    log_batch_info_t info;
    size_t pos = 0;

    if (len == 0)
        return LOG_EBATCH_LENGTH;
    while (pos < len) {
        int total = log_batch_parse(buf + pos, len - pos, true, &info);
        if (total < 0)
            return total;
        /* Producers always send dense batches; only compaction thins them. */
        if (info.records == 0 || info.records != info.last_offset_delta + 1)
            return LOG_EBATCH_CORRUPT;
        sum.batches++;
        sum.records += (int64_t)info.last_offset_delta + 1;
        if (total > sum.max_batch_size)
            sum.max_batch_size = total;
        if (info.max_ts > sum.max_ts)
            sum.max_ts = info.max_ts;
        pos += (size_t)total;
    }
    if (out)
        *out = sum;
    return 0;
}
