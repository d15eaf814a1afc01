package alloctest;

/** Implemented by clients and passed to the service as a binder object. */
interface ICallback {
    /** Returns value + 1 and the sum of the bytes in data. */
    long onCall(int value, in byte[] data);
}
