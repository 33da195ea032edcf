/* The LCM side of docs/BENCHMARKS.md: the same measurement as `eventcast bench --role`,
 * with LCM (UDP multicast, lcm.h from Debian's liblcm-dev).
 *   lcm_bench send EVENTS SIZE [RATE]   publish EVENTS messages of SIZE bytes on "BENCH"
 *   lcm_bench recv EVENTS IDLE_SECONDS  count them; print one JSON line like eventcast bench
 * Each message starts with its sequence number and send time (ns, CLOCK_REALTIME). */
#include <lcm/lcm.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define URL "udpm://239.255.76.67:7667?ttl=0"

static int64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

struct seen {
    uint64_t count;
    int64_t first, last;
    uint32_t *lat_us;
    uint64_t cap;
};

static void on_message(const lcm_recv_buf_t *rbuf, const char *channel, void *user) {
    (void)channel;
    struct seen *s = user;
    int64_t now = now_ns(), sent = 0;
    if (rbuf->data_size >= 16) memcpy(&sent, (const char *)rbuf->data + 8, 8);
    if (s->count < s->cap) s->lat_us[s->count] = (uint32_t)((now - sent) / 1000);
    if (!s->first) s->first = now;
    s->last = now;
    s->count++;
}

static int cmp(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static uint32_t quantile(uint32_t *v, uint64_t n, double q) {
    if (!n) return 0;
    uint64_t rank = (uint64_t)(q * n + 0.999999);
    if (rank < 1) rank = 1;
    if (rank > n) rank = n;
    return v[rank - 1];
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: %s send EVENTS SIZE [RATE] | recv EVENTS IDLE_SECONDS\n", argv[0]);
        return 2;
    }
    uint64_t events = strtoull(argv[2], 0, 10);
    lcm_t *lcm = lcm_create(URL);
    if (!lcm) {
        fprintf(stderr, "lcm_create failed\n");
        return 2;
    }
    if (!strcmp(argv[1], "send")) {
        size_t size = strtoul(argv[3], 0, 10);
        double rate = argc > 4 ? atof(argv[4]) : 0;
        if (size < 16) size = 16;
        char *buf = calloc(1, size);
        int64_t start = now_ns();
        for (uint64_t i = 0; i < events; i++) {
            if (rate > 0) {
                int64_t due = start + (int64_t)(i * 1e9 / rate);
                while (now_ns() < due) {
                    struct timespec d = {0, 50000};
                    nanosleep(&d, 0);
                }
            }
            int64_t t = now_ns();
            memcpy(buf, &i, 8);
            memcpy(buf + 8, &t, 8);
            if (lcm_publish(lcm, "BENCH", buf, size) < 0) fprintf(stderr, "publish failed\n");
        }
        fprintf(stderr, "lcm send: %llu in %.3f s\n", (unsigned long long)events, (now_ns() - start) / 1e9);
    } else {
        int idle = atoi(argv[3]);
        struct seen s = {0, 0, 0, calloc(events, sizeof(uint32_t)), events};
        lcm_subscribe(lcm, "BENCH", on_message, &s);
        fprintf(stderr, "lcm bench: receiving\n");
        int64_t last_progress = now_ns();
        uint64_t last_count = 0;
        while (s.count < events && now_ns() - last_progress < (int64_t)idle * 1000000000) {
            lcm_handle_timeout(lcm, 100);
            if (s.count != last_count) {
                last_count = s.count;
                last_progress = now_ns();
            }
        }
        uint64_t n = s.count < s.cap ? s.count : s.cap;
        qsort(s.lat_us, n, sizeof(uint32_t), cmp);
        double secs = s.last > s.first ? (s.last - s.first) / 1e9 : 1e-9;
        printf("{\"mode\":\"lcm\",\"role\":\"recv\",\"events\":%llu,\"seconds\":%.6f,\"events_per_sec\":%.1f,"
               "\"delivered\":%llu,\"lost\":%llu,\"p50_us\":%u,\"p99_us\":%u,\"p999_us\":%u}\n",
               (unsigned long long)events, secs, s.count / secs, (unsigned long long)s.count,
               (unsigned long long)(events - s.count), quantile(s.lat_us, n, 0.5), quantile(s.lat_us, n, 0.99),
               quantile(s.lat_us, n, 0.999));
    }
    lcm_destroy(lcm);
    return 0;
}
