/*
 * edgeq firmware: the platform layer of the host build. The serial line is stdin/stdout -- a pipe, a pty or the
 * socket the pyserial URL handler edgeq-host:// (edgeq/bench/hostfw.py) hands over -- and the timer is
 * CLOCK_MONOTONIC in microseconds. End of input (the host closed the line) ends the program. POSIX C99.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "edgeq_platform.h"

static unsigned char tx_buf[4096];
static size_t tx_len;
static unsigned char rx_buf[4096];
static size_t rx_pos, rx_len;

void edgeq_plat_init(void) {}

void edgeq_plat_flush(void)
{
    size_t done = 0;
    while (done < tx_len) {
        ssize_t n = write(STDOUT_FILENO, tx_buf + done, tx_len - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) _exit(0); /* the host closed the line: nobody is listening any more */
        done += (size_t)n;
    }
    tx_len = 0;
}

void edgeq_plat_putc(char c)
{
    if (tx_len == sizeof tx_buf) edgeq_plat_flush();
    tx_buf[tx_len++] = (unsigned char)c;
}

int edgeq_plat_getc(uint32_t timeout_ms)
{
    if (rx_pos == rx_len) {
        struct pollfd p;
        ssize_t n;
        int rc;
        edgeq_plat_flush(); /* everything said so far reaches the host before we wait for it */
        p.fd = STDIN_FILENO;
        p.events = POLLIN;
        p.revents = 0;
        do {
            rc = poll(&p, 1, timeout_ms == EDGEQ_FOREVER ? -1 : (int)timeout_ms);
        } while (rc < 0 && errno == EINTR);
        if (rc == 0) return -1;
        do {
            n = read(STDIN_FILENO, rx_buf, sizeof rx_buf);
        } while (n < 0 && errno == EINTR);
        if (n <= 0) exit(0); /* end of input */
        rx_pos = 0;
        rx_len = (size_t)n;
    }
    return rx_buf[rx_pos++];
}

static uint32_t monotonic_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    /* modulo 2^32, as a hardware timer wraps: the protocol's tick differences are right across a wrap */
    return (uint32_t)((uint64_t)t.tv_sec * 1000000u + (uint64_t)t.tv_nsec / 1000u);
}

uint32_t edgeq_plat_ticks(void) { return monotonic_us(); }
uint32_t edgeq_plat_us(void) { return monotonic_us(); }
uint32_t edgeq_plat_stack_used(void) { return EDGEQ_UNKNOWN; }
uint32_t edgeq_plat_stack_size(void) { return EDGEQ_UNKNOWN; }
void edgeq_plat_timestamp_pin(int level) { (void)level; } /* no pin here; export refuses --energy for the host */
