/* What traceway's C modules share for hashing: a seeded hash and an open-addressing table.
 *
 * Include it after _native_buf.h. Each module sets `seed` from os.urandom when it is
 * imported (seed_from_urandom), so a sender cannot choose values that all collide.
 */
#ifndef TRACEWAY_NATIVE_HASH_H
#define TRACEWAY_NATIVE_HASH_H

static inline uint64_t mum(uint64_t a, uint64_t b)
{
    __uint128_t r = (__uint128_t)a * b;
    return (uint64_t)r ^ (uint64_t)(r >> 64);
}

/* Random per process (module init): spans come from the network, and a hash anyone
 * can compute lets a sender choose values that all collide. */
static uint64_t seed;

/* A 64-bit multiply-and-fold per word, as wyhash does: a string library would be one
 * more dependency for twenty lines. */
static inline uint64_t hash_bytes(const uint8_t *p, size_t n)
{
    uint64_t h = mum(seed ^ n, 0x9e3779b97f4a7c15ULL);
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = mum(h ^ w, 0xa0761d6478bd642fULL);
        p += 8;
        n -= 8;
    }
    uint64_t tail = 0;
    for (size_t i = 0; i < n; i++)
        tail |= (uint64_t)p[i] << (8 * i);
    return mum(h ^ tail ^ seed, 0xe7037ed1a0b428dbULL);
}

/* Open addressing over items numbered from 0, kept at most half full; a slot holds
 * an item's number plus one (0: empty). The caller compares items. */
typedef struct {
    uint32_t *slots;
    uint64_t *hashes; /* of the items, by number */
    size_t mask;
    size_t count;
} Table;

static int table_init(Table *t, size_t expected)
{
    size_t size = 64;
    while (size < 2 * expected + 2)
        size *= 2;
    t->slots = calloc(size, sizeof *t->slots);
    t->hashes = malloc((size / 2 + 1) * sizeof *t->hashes);
    t->mask = size - 1;
    t->count = 0;
    return t->slots && t->hashes ? ST_OK : ST_NOMEM;
}

static inline void table_free(Table *t)
{
    free(t->slots);
    free(t->hashes);
}

static int table_grow(Table *t)
{
    size_t size = (t->mask + 1) * 2;
    uint32_t *slots = calloc(size, sizeof *slots);
    uint64_t *hashes = realloc(t->hashes, (size / 2 + 1) * sizeof *hashes);
    if (slots == NULL || hashes == NULL) {
        free(slots);
        if (hashes != NULL)
            t->hashes = hashes;
        return ST_NOMEM;
    }
    t->hashes = hashes;
    for (size_t item = 0; item < t->count; item++) {
        size_t at = t->hashes[item] & (size - 1);
        while (slots[at])
            at = (at + 1) & (size - 1);
        slots[at] = (uint32_t)(item + 1);
    }
    free(t->slots);
    t->slots = slots;
    t->mask = size - 1;
    return ST_OK;
}


/* Find or add an item of `table` whose hash is `h` and which `same` judges equal (it
 * names the item looked at `item`); `number` is its number. `on_new` runs for a new
 * one. Expects `s` in scope with counters `probes` and `probe_budget`: past the
 * budget the function returns ST_FALLBACK (input made to collide despite the seed). */
#define FIND_OR_ADD(table, h, same, on_new, number)                                      \
    do {                                                                                  \
        size_t at_ = (h) & (table).mask;                                                  \
        uint32_t slot_;                                                                   \
        (number) = UINT32_MAX;                                                            \
        for (; (slot_ = (table).slots[at_]) != 0; at_ = (at_ + 1) & (table).mask) {        \
            if (++s->probes > s->probe_budget)                                            \
                return ST_FALLBACK;                                                       \
            uint32_t item = slot_ - 1;                                                    \
            if ((table).hashes[item] == (h) && (same)) {                                  \
                (number) = item;                                                          \
                break;                                                                    \
            }                                                                             \
        }                                                                                 \
        if ((number) == UINT32_MAX) {                                                     \
            (number) = (uint32_t)(table).count;                                           \
            (table).hashes[(table).count++] = (h);                                        \
            (table).slots[at_] = (number) + 1;                                            \
            on_new;                                                                       \
            if (2 * (table).count > (table).mask)                                         \
                TRY(table_grow(&(table)));                                                \
        }                                                                                 \
    } while (0)

/* Set `seed` from os.urandom, once: a module imported again runs its init again,
 * maybe while another thread hashes without the GIL. -1 with a Python exception when
 * that fails. */
static int seed_from_urandom(void)
{
    static int seeded;
    if (seeded)
        return 0;
    PyObject *os = PyImport_ImportModule("os");
    PyObject *random = os ? PyObject_CallMethod(os, "urandom", "i", (int)sizeof seed) : NULL;
    Py_XDECREF(os);
    if (random == NULL)
        return -1;
    if (!PyBytes_Check(random) || PyBytes_GET_SIZE(random) != (Py_ssize_t)sizeof seed) {
        Py_DECREF(random);
        PyErr_SetString(PyExc_RuntimeError, "os.urandom() did not return the bytes asked for");
        return -1;
    }
    memcpy(&seed, PyBytes_AS_STRING(random), sizeof seed);
    Py_DECREF(random);
    seeded = 1;
    return 0;
}

#endif
