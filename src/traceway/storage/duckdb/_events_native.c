/* A batch's events split from their times, for events of shapes seen before: one pass.
 *
 * Why by hand: event_columns.split_events does this in Python at some 5 us per span
 * with events (a regular expression, a tuple, a set lookup, integers, a join, then a
 * few Arrow kernels to build the columns), which was a tenth of a commit thread's time
 * at full ingest. This makes exactly what that Python makes (tests compare them) from
 * the text buffers, in C, for a batch whose every text has a shape in the registry
 * below; otherwise it answers None and the Python takes the batch (and teaches the
 * registry the shapes it verifies).
 *
 * A text is cut at each match of the Python pattern \[(0|-?[1-9][0-9]*), (leftmost,
 * not overlapping): the pieces between the matches are its shape, the integers its
 * event times. The text left is the pieces joined by "[", and the offsets are the
 * times minus the span's start. A shape is registered (`remember`) only once the
 * Python has checked that such a text is plain JSON whose matches are exactly its
 * events' times, so any text of that shape is too.
 *
 * Everything here runs with the GIL held: the registry is shared, and the work on a
 * batch takes some tens of microseconds, less than letting go of the GIL and waiting
 * to take it back would cost a busy server.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "_native_buf.h"
#include "_native_hash.h"

/* The registered shapes: key i is keys[starts[i] .. starts[i + 1]) (or the end). A key
 * is each piece as a little-endian uint32 length and its bytes, so that no two lists
 * of pieces share one. */
static Table shapes;
static Buf keys, key_starts;
static int shapes_ready;

static int shapes_init(void)
{
    if (shapes_ready)
        return ST_OK;
    TRY(table_init(&shapes, 64));
    shapes_ready = 1;
    return ST_OK;
}

static inline uint64_t key_start(size_t item)
{
    uint64_t at;
    memcpy(&at, key_starts.data + 8 * item, 8);
    return at;
}

static int shape_known(const uint8_t *key, size_t n, uint64_t h)
{
    for (size_t at = h & shapes.mask; shapes.slots[at]; at = (at + 1) & shapes.mask) {
        size_t item = shapes.slots[at] - 1;
        if (shapes.hashes[item] != h)
            continue;
        uint64_t from = key_start(item);
        uint64_t to = item + 1 < shapes.count ? key_start(item + 1) : keys.len;
        if (to - from == n && (n == 0 || memcmp(keys.data + from, key, n) == 0))
            return 1;
    }
    return 0;
}

static void shapes_clear(void)
{
    memset(shapes.slots, 0, (shapes.mask + 1) * sizeof *shapes.slots);
    shapes.count = 0;
    keys.len = 0;
    key_starts.len = 0;
}

/* Everything that can fail is reserved first: a failed add leaves the registry as it was. */
static int shape_add(const uint8_t *key, size_t n)
{
    uint64_t h = hash_bytes(key, n);
    if (shape_known(key, n, h))
        return ST_OK;
    if (shapes.count >= UINT32_MAX - 1)
        return ST_NOMEM;
    if (2 * (shapes.count + 1) > shapes.mask)
        TRY(table_grow(&shapes));
    TRY(buf_grow(&keys, n));
    TRY(buf_grow(&key_starts, 8));
    TRY(buf_u64(&key_starts, keys.len));
    TRY(buf_put(&keys, key, n));
    size_t at = h & shapes.mask;
    while (shapes.slots[at])
        at = (at + 1) & shapes.mask;
    shapes.hashes[shapes.count] = h;
    shapes.slots[at] = (uint32_t)(shapes.count + 1);
    shapes.count++;
    return ST_OK;
}

/* The end of a match of \[(0|-?[1-9][0-9]*), at t[i] == '[' (just past the comma),
 * or 0; the integer is t[i + 1 .. end - 1). */
static size_t match_at(const uint8_t *t, size_t n, size_t i)
{
    size_t j = i + 1;
    if (j + 1 < n && t[j] == '0' && t[j + 1] == ',')
        return j + 2;
    if (j < n && t[j] == '-')
        j++;
    if (j >= n || t[j] < '1' || t[j] > '9')
        return 0;
    while (j < n && t[j] >= '0' && t[j] <= '9')
        j++;
    return j < n && t[j] == ',' ? j + 1 : 0;
}

/* A canonical integer's value, if it fits an int64 (as Python's range check asks). */
static int parse_int64(const uint8_t *p, size_t n, int64_t *value)
{
    int negative = p[0] == '-';
    uint64_t magnitude = 0;
    for (size_t k = (size_t)negative; k < n; k++) {
        uint64_t digit = (uint64_t)(p[k] - '0');
        if (magnitude > (UINT64_MAX - digit) / 10)
            return 0;
        magnitude = magnitude * 10 + digit;
    }
    if (negative) {
        if (magnitude > (uint64_t)INT64_MAX + 1)
            return 0;
        *value = magnitude == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)magnitude;
    } else {
        if (magnitude > (uint64_t)INT64_MAX)
            return 0;
        *value = (int64_t)magnitude;
    }
    return 1;
}

enum { ST_UNFIT = 3 }; /* a known shape whose time or offset does not fit an int64 */

typedef struct {
    Buf key, left_offsets, lefts, offsets, values, valid;
} Split;

static void split_free(Split *s)
{
    free(s->key.data);
    free(s->left_offsets.data);
    free(s->lefts.data);
    free(s->offsets.data);
    free(s->values.data);
    free(s->valid.data);
}

/* One text: its key into s->key, its text left appended to s->lefts and its offsets
 * to s->values. ST_FALLBACK when its shape is not registered (the Python decides);
 * ST_UNFIT when it is but a time or an offset does not fit an int64 (the Python
 * says None then). */
static int split_one(Split *s, const uint8_t *t, size_t n, int64_t start)
{
    s->key.len = 0;
    size_t piece = 0;
    int unfit = 0;
    uint32_t length;
    for (size_t i = 0; i < n; i++) {
        size_t end = t[i] == '[' ? match_at(t, n, i) : 0;
        if (!end)
            continue;
        length = (uint32_t)(i - piece);
        TRY(buf_put(&s->key, &length, 4));
        TRY(buf_put(&s->key, t + piece, i - piece));
        TRY(buf_put(&s->lefts, t + piece, i - piece));
        TRY(buf_byte(&s->lefts, '['));
        int64_t time, offset;
        if (parse_int64(t + i + 1, end - i - 2, &time) &&
            !__builtin_sub_overflow(time, start, &offset))
            TRY(buf_i64(&s->values, offset));
        else
            unfit = 1;
        piece = end;
        i = end - 1;
    }
    length = (uint32_t)(n - piece);
    TRY(buf_put(&s->key, &length, 4));
    TRY(buf_put(&s->key, t + piece, n - piece));
    TRY(buf_put(&s->lefts, t + piece, n - piece));
    if (!shape_known(s->key.data, s->key.len, hash_bytes(s->key.data, s->key.len)))
        return ST_FALLBACK;
    return unfit ? ST_UNFIT : ST_OK;
}

/* Every row: its text left, offsets and validity. The first row that is not ST_OK
 * ends it: with an unknown shape the Python takes the batch (and says None itself if
 * a later row is unfit), with an unfit one the answer is None whatever comes after. */
static inline int32_t load_i32(const uint8_t *p, size_t i)
{
    int32_t v;
    memcpy(&v, p + 4 * i, 4); /* the buffers need not be aligned */
    return v;
}

static inline int64_t load_i64(const uint8_t *p, size_t i)
{
    int64_t v;
    memcpy(&v, p + 8 * i, 8);
    return v;
}

static int split_all(Split *s, size_t count, const uint8_t *text_offsets, const uint8_t *data,
                     const uint8_t *valid, size_t bit, const uint8_t *starts)
{
    TRY(buf_i32(&s->left_offsets, 0));
    TRY(buf_i32(&s->offsets, 0));
    if (valid != NULL && count > 0) {
        TRY(buf_grow(&s->valid, (count + 7) / 8));
        memset(s->valid.data, 0, (count + 7) / 8);
        s->valid.len = (count + 7) / 8;
    }
    for (size_t row = 0; row < count; row++) {
        size_t b = bit + row;
        if (valid == NULL || (valid[b / 8] >> (b % 8)) & 1) {
            int32_t from = load_i32(text_offsets, row), to = load_i32(text_offsets, row + 1);
            TRY(split_one(s, data + from, (size_t)(to - from), load_i64(starts, row)));
            if (valid != NULL)
                s->valid.data[row / 8] |= (uint8_t)(1u << (row % 8));
        }
        TRY(buf_offset(&s->left_offsets, &s->lefts));
        TRY(buf_index(&s->offsets, s->values.len / 8));
    }
    return ST_OK;
}

#define BAD_BUFFERS "split(): the buffers do not hold the rows given"

static PyObject *split(PyObject *module, PyObject *args)
{
    (void)module;
    Py_ssize_t count, bit;
    Py_buffer offsets, data, valid = {0}, starts;
    PyObject *validity;
    if (!PyArg_ParseTuple(args, "ny*y*Ony*", &count, &offsets, &data, &validity, &bit, &starts))
        return NULL;
    PyObject *result = NULL;
    Split s = {0};
    if (validity != Py_None && PyObject_GetBuffer(validity, &valid, PyBUF_SIMPLE) < 0)
        goto done; /* bytes-like or None, not text */
    int have_valid = valid.obj != NULL;
    int ok = count >= 0 && bit >= 0 && bit < 8 && offsets.len / 4 > count &&
             starts.len / 8 >= count &&
             (!have_valid || count == 0 || valid.len >= (count + bit + 7) / 8);
    for (Py_ssize_t row = 0; ok && row < count; row++) {
        int32_t from = load_i32(offsets.buf, (size_t)row), to = load_i32(offsets.buf, (size_t)row + 1);
        ok = from >= 0 && from <= to && to <= data.len;
    }
    if (!ok) {
        PyErr_SetString(PyExc_ValueError, BAD_BUFFERS);
        goto done;
    }
    if (shapes_init() != ST_OK) {
        PyErr_NoMemory();
        goto done;
    }
    int status = split_all(&s, (size_t)count, offsets.buf, data.buf,
                           have_valid ? valid.buf : NULL, (size_t)bit, starts.buf);
    if (status == ST_NOMEM)
        PyErr_NoMemory();
    else if (status == ST_FALLBACK)
        result = Py_NewRef(Py_None);
    else if (status == ST_UNFIT)
        result = Py_NewRef(Py_False);
    else
        result = Py_BuildValue("(NNNNN)", bytes_of(&s.left_offsets), bytes_of(&s.lefts),
                               bytes_of(&s.offsets), bytes_of(&s.values),
                               have_valid ? bytes_of(&s.valid) : Py_NewRef(Py_None));
done:
    split_free(&s);
    PyBuffer_Release(&offsets);
    PyBuffer_Release(&data);
    PyBuffer_Release(&valid); /* nothing to release for None (obj NULL) */
    PyBuffer_Release(&starts);
    return result;
}

static PyObject *remember(PyObject *module, PyObject *args)
{
    (void)module;
    Py_buffer key;
    Py_ssize_t most;
    if (!PyArg_ParseTuple(args, "y*n", &key, &most))
        return NULL;
    int status = shapes_init();
    if (status == ST_OK && most >= 0 && shapes.count >= (size_t)most)
        shapes_clear();
    if (status == ST_OK)
        status = shape_add(key.buf, (size_t)key.len);
    PyBuffer_Release(&key);
    if (status != ST_OK)
        return PyErr_NoMemory();
    Py_RETURN_NONE;
}

static PyObject *known(PyObject *module, PyObject *arg)
{
    (void)module;
    Py_buffer key;
    if (PyObject_GetBuffer(arg, &key, PyBUF_SIMPLE) < 0)
        return NULL;
    int found = shapes_init() == ST_OK &&
                shape_known(key.buf, (size_t)key.len, hash_bytes(key.buf, (size_t)key.len));
    PyBuffer_Release(&key);
    return PyBool_FromLong(found);
}

static PyObject *forget(PyObject *module, PyObject *unused)
{
    (void)module;
    (void)unused;
    if (shapes_ready)
        shapes_clear();
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"split", split, METH_VARARGS,
     "split(count, offsets, data, validity, bit, starts) -> tuple | False | None: the texts "
     "left and the offsets (offsets, texts, list offsets, values, validity or None), False "
     "when a known shape's time does not fit, None when a shape is not registered."},
    {"remember", remember, METH_VARARGS,
     "remember(key, most): register a shape's key, forgetting all first if most are."},
    {"known", known, METH_O, "known(key) -> bool: whether a shape's key is registered."},
    {"forget", forget, METH_NOARGS, "forget(): forget every registered shape."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_events_native", "Events split from their times, for known shapes.",
    0, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__events_native(void)
{
    return seed_from_urandom() == 0 ? PyModule_Create(&module) : NULL;
}
