/* SPDX-License-Identifier: Apache-2.0 */
/* fuzz.h: the libFuzzer entry points every tests/fuzz target defines, so
 * the targets also build warning-free with gcc for the corpus replay of
 * `make check` (replay.c). Test code only: nothing here is shipped.
 */
#ifndef TU_FUZZ_H
#define TU_FUZZ_H
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#endif
