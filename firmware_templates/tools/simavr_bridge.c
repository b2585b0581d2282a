/*
 * edgeq simavr bridge: run an AVR firmware in simavr with UART0 on a pseudo-terminal.
 *
 *   simavr_bridge FIRMWARE.elf MCU FREQUENCY_HZ
 *
 * Prints "PTY /dev/pts/N" on stdout, waits until a host opens that pty (like QEMU's wait=on: no boot output is lost),
 * then simulates until the firmware stops or the process is killed (stop it by PID). Single-threaded: between bursts
 * of simulated instructions it moves bytes between the pty and the simulated UART, honouring the UART's XON/XOFF so
 * its receive FIFO never overflows.
 *
 * simavr is cycle-accurate but not real-time (it usually runs several times faster than a 16 MHz part): time the
 * firmware with the MCU's own cycle counter, never with the host clock.
 * Built by edgeq (edgeq/targets/emulators.py): cc -I/usr/include/simavr simavr_bridge.c -lsimavr -lsimavrparts -lelf
 * -lpthread -lutil
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "avr_uart.h"
#include "sim_avr.h"
#include "sim_elf.h"
#include "sim_io.h"
#include "sim_irq.h"

#define BURST 4000 /* instructions between two looks at the pty */

static int master = -1;
static int xon = 1;
static unsigned char outbuf[1 << 16];
static size_t out_len;

static void uart_out(struct avr_irq_t *irq, uint32_t value, void *param)
{
    (void)irq;
    (void)param;
    if (out_len < sizeof outbuf) outbuf[out_len++] = (unsigned char)value;
}
static void uart_xon(struct avr_irq_t *irq, uint32_t value, void *param)
{
    (void)irq;
    (void)value;
    (void)param;
    xon = 1;
}
static void uart_xoff(struct avr_irq_t *irq, uint32_t value, void *param)
{
    (void)irq;
    (void)value;
    (void)param;
    xon = 0;
}

static void flush_out(void)
{
    size_t done = 0;
    while (done < out_len) {
        ssize_t n = write(master, outbuf + done, out_len - done);
        if (n > 0) {
            done += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EAGAIN) {
            struct pollfd p = {master, POLLOUT, 0};
            poll(&p, 1, 10);
            continue;
        }
        break; /* host gone (EIO): drop the output */
    }
    out_len = 0;
}

int main(int argc, char **argv)
{
    elf_firmware_t fw;
    avr_t *avr;
    avr_irq_t *rx, *tx, *irq_xon, *irq_xoff;
    int slave, state = cpu_Running, i;
    char name[128];
    struct termios tio;
    uint32_t flags = 0;

    if (argc != 4) {
        fprintf(stderr, "usage: %s FIRMWARE.elf MCU FREQUENCY_HZ\n", argv[0]);
        return 2;
    }
    memset(&fw, 0, sizeof fw);
    if (elf_read_firmware(argv[1], &fw) != 0) {
        fprintf(stderr, "error: cannot read firmware %s\n", argv[1]);
        return 2;
    }
    avr = avr_make_mcu_by_name(argv[2]);
    if (!avr) {
        fprintf(stderr, "error: simavr does not know the MCU %s\n", argv[2]);
        return 2;
    }
    avr_init(avr);
    avr_load_firmware(avr, &fw);
    avr->frequency = (uint32_t)strtoul(argv[3], NULL, 10);
    avr->log = 0;

    /* UART0 <-> our callbacks; no console echo, no host sleeps while the firmware polls the UART */
    avr_ioctl(avr, AVR_IOCTL_UART_GET_FLAGS('0'), &flags);
    flags &= ~(uint32_t)(AVR_UART_FLAG_STDIO | AVR_UART_FLAG_POLL_SLEEP);
    avr_ioctl(avr, AVR_IOCTL_UART_SET_FLAGS('0'), &flags);
    rx = avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_INPUT);
    tx = avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUTPUT);
    irq_xon = avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUT_XON);
    irq_xoff = avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUT_XOFF);
    if (!rx || !tx) {
        fprintf(stderr, "error: %s has no UART0 in simavr\n", argv[2]);
        return 2;
    }
    avr_irq_register_notify(tx, uart_out, NULL);
    if (irq_xon) avr_irq_register_notify(irq_xon, uart_xon, NULL);
    if (irq_xoff) avr_irq_register_notify(irq_xoff, uart_xoff, NULL);

    if (openpty(&master, &slave, name, NULL, NULL) < 0) {
        fprintf(stderr, "error: openpty: %s\n", strerror(errno));
        return 2;
    }
    tcgetattr(master, &tio);
    cfmakeraw(&tio);
    tcsetattr(master, TCSANOW, &tio);
    close(slave); /* from now on POLLHUP on the master means: nobody has the pty open */
    fcntl(master, F_SETFL, fcntl(master, F_GETFL) | O_NONBLOCK);
    printf("PTY %s\n", name);
    fflush(stdout);

    for (;;) { /* wait for the host */
        struct pollfd p = {master, POLLIN, 0};
        poll(&p, 1, 20);
        if (!(p.revents & POLLHUP)) break;
    }

    while (state != cpu_Done && state != cpu_Crashed) {
        for (i = 0; i < BURST && state != cpu_Done && state != cpu_Crashed; i++) state = avr_run(avr);
        if (out_len) flush_out();
        while (xon) {
            unsigned char b;
            ssize_t n = read(master, &b, 1);
            if (n != 1) break;
            avr_raise_irq(rx, b);
        }
    }
    flush_out();
    printf("simavr: firmware %s\n", state == cpu_Crashed ? "crashed" : "stopped");
    fflush(stdout);
    _exit(state == cpu_Crashed ? 3 : 0);
}
