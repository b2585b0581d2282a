"""Is CMSIS-NN's arm_softmax_s16 bit-exact with TFLM's int16 SOFTMAX (reference_ops::SoftmaxInt16)? Measured on the
host: both C kernels (CMSIS-NN's scalar source from the checkout, edgeq's edgeq_softmax_s16, which the tests check
against the TFLM interpreter) run on the same 200,000 pseudo-random rows of 1..40 int16 values and on 200,000 rows
of 2..40, with the tables of TFLM's Prepare (edgeq.quant.lut16) and the multiplier of an input scale 3/32767.
Prints how many rows and elements differ and the first differing rows. edgeq keeps its own kernel for int16
SOFTMAX on the cmsis-nn backend because of this (docs/cmsis-nn.md).

    EDGEQ_CMSIS_NN_DIR=../shared/third_party/cmsis-nn python benchmarks/softmax_s16_cmsis.py
Needs gcc; a few seconds.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

HARNESS = r"""
#include <stdio.h>
#include <stdlib.h>
#include "arm_nnfunctions.h"
#include "edgeq_nn.h"
#include "luts.h"

static void run(int nmin, int print) {
    const cmsis_nn_softmax_lut_s16 cl = {EXP, ONE};
    const edgeq_softmax_lut_s16 el = {EXP, ONE};
    int16_t in[64], a[64], b[64];
    long rows = 0, bad_rows = 0, bad_el = 0;
    int maxd = 0, trial, i;
    srand(1);
    for (trial = 0; trial < 200000; ++trial) {
        const int n = nmin + rand() % (41 - nmin);
        const int spread = trial % 3 == 0 ? 200 : trial % 3 == 1 ? 3000 : 40000;
        int d = 0;
        for (i = 0; i < n; ++i) {
            const int v = 30000 - rand() % spread;
            in[i] = (int16_t)(v < -32768 ? -32768 : v);
        }
        arm_softmax_s16(in, 1, n, MULT, SHIFT, &cl, a);
        edgeq_softmax_s16(in, 1, n, MULT, SHIFT, &el, b);
        rows++;
        for (i = 0; i < n; ++i) {
            if (a[i] != b[i]) {
                const int x = abs(a[i] - b[i]);
                d = 1;
                bad_el++;
                maxd = x > maxd ? x : maxd;
            }
        }
        bad_rows += d;
        if (d && bad_rows <= print) {
            printf("  row of %d: input", n);
            for (i = 0; i < n && i < 8; ++i) printf(" %d", in[i]);
            printf("%s\n    arm_softmax_s16:", n > 8 ? " ..." : "");
            for (i = 0; i < n && i < 8; ++i) printf(" %d", a[i]);
            printf("%s\n    TFLM (edgeq)   :", n > 8 ? " ..." : "");
            for (i = 0; i < n && i < 8; ++i) printf(" %d", b[i]);
            printf("%s\n", n > 8 ? " ..." : "");
        }
    }
    printf("rows of %d..40 values: %ld rows, %ld differ (%ld elements, largest difference %d)\n", nmin, rows,
           bad_rows, bad_el, maxd);
}

int main(void) {
    run(1, 2);
    run(2, 1);
    return 0;
}
"""


def main() -> int:
    from edgeq.quant import fixedpoint as fp
    from edgeq.quant.lut16 import softmax_luts

    cmsis = Path(os.environ.get("EDGEQ_CMSIS_NN_DIR", REPO.parent / "shared" / "third_party" / "cmsis-nn"))
    if not (cmsis / "Include" / "arm_nnfunctions.h").is_file():
        print(f"no CMSIS-NN checkout at {cmsis}: set EDGEQ_CMSIS_NN_DIR", file=sys.stderr)
        return 2
    portable = REPO / "firmware_templates" / "kernels" / "portable"
    exp_lut, one_over = softmax_luts()
    mult, shift = fp.quantize_multiplier(float(np.float32(3 / 32767)) / (10 / 65535))
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        (d / "luts.h").write_text(f"static const int16_t EXP[513] = {{{', '.join(map(str, exp_lut))}}};\n"
                                  f"static const int16_t ONE[513] = {{{', '.join(map(str, one_over))}}};\n")
        (d / "h.c").write_text(HARNESS)
        subprocess.run(["gcc", "-O1", "-std=c99", f"-DMULT={mult}", f"-DSHIFT={shift}", f"-I{cmsis / 'Include'}",
                        f"-I{portable}", f"-I{d}", str(d / "h.c"),
                        str(cmsis / "Source" / "SoftmaxFunctions" / "arm_softmax_s16.c"),
                        str(portable / "edgeq_activations_s16.c"), str(portable / "edgeq_nn_support.c"),
                        "-o", str(d / "h")], check=True)
        print(f"arm_softmax_s16 ({cmsis}) vs TFLM's SoftmaxInt16 arithmetic, mult {mult} shift {shift}:")
        sys.stdout.flush()
        subprocess.run([str(d / "h")], check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
