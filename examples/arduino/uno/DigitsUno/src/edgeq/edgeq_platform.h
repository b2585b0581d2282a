/*
 * edgeq firmware: the platform layer the protocol runs on (one implementation per target: CMSDK UART + SysTick on
 * the QEMU boards, Arduino Serial + a cycle counter on the Arduino boards, your UART on a generic board,
 * stdin/stdout + CLOCK_MONOTONIC in the host build).
 * C99; every function is called from one thread only (never from an interrupt).
 */
#ifndef EDGEQ_PLATFORM_H
#define EDGEQ_PLATFORM_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define EDGEQ_FOREVER 0xFFFFFFFFu
#define EDGEQ_UNKNOWN 0xFFFFFFFFu

void     edgeq_plat_init(void);                 /* serial port, timer, cycle counter */
void     edgeq_plat_putc(char c);               /* blocking */
void     edgeq_plat_flush(void);                /* wait until everything written has left */
int      edgeq_plat_getc(uint32_t timeout_ms);  /* next received byte 0..255, or -1 after timeout_ms */
uint32_t edgeq_plat_ticks(void);                /* free-running timer in the units edgeq-info announces */
uint32_t edgeq_plat_us(void);                   /* microseconds for the EEMBC m-lap-us lines */
uint32_t edgeq_plat_stack_used(void);           /* stack high-water mark in bytes, or EDGEQ_UNKNOWN */
uint32_t edgeq_plat_stack_size(void);           /* bytes reserved for the stack, or EDGEQ_UNKNOWN */
void     edgeq_plat_timestamp_pin(int level);   /* MLPerf energy mode only: drive the timestamp pin (0 low, 1 high) */

#ifdef __cplusplus
}
#endif
#endif
