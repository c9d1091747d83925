/*
 * Fuzzes the reader of DNS answers (controller/dns.c) that `meshctl doctor` hands whatever a
 * UDP datagram from cluster DNS holds. Besides crashes it checks its promises: an answer to
 * another id, or not a response, is MALFORMED; anything it accepts reports the header's rcode.
 * The first two bytes of the input are the id asked about, the rest the datagram.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "controller/dns.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    unsigned short id = (unsigned short)((data[0] << 8) | data[1]);
    const unsigned char *d = data + 2;
    size_t n = size - 2;
    int rcode = -2;
    enum mc_dns_answer a = mc_dns_read_answer(d, n, id, &rcode);
    bool ours = n >= 12 && ((d[0] << 8) | d[1]) == id && (d[2] & 0x80);
    if (!ours && a != MC_DNS_ANSWER_MALFORMED)
        abort();
    if (ours && (a == MC_DNS_ANSWER_MALFORMED || rcode != (d[3] & 0x0f)))
        abort();
    if (a == MC_DNS_ANSWER_RESOLVED && (rcode != 0 || !(d[6] | d[7])))
        abort();
    /* A query this module builds is never taken for an answer. */
    unsigned char q[512];
    if (mc_dns_query("x.ts.net", id, q, sizeof(q)) > 0 &&
        mc_dns_read_answer(q, 12, id, NULL) != MC_DNS_ANSWER_MALFORMED)
        abort();
    return 0;
}
