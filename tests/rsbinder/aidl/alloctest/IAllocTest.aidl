package alloctest;

import alloctest.ICallback;
import alloctest.Outer;

/** The service the rsbinder scenarios of binder-alloc-rs call. */
interface IAllocTest {
    int getPid();
    byte[] echo(in byte[] data);
    String echoString(String s);
    Outer echoOuter(in Outer o);
    /** Calls cb.onCall(value, <size pattern bytes>) and returns its result. */
    long callBack(ICallback cb, int value, int size);
    /** Reads the file from its start; returns its length * 1000003 + byte sum. */
    long digestFd(in ParcelFileDescriptor fd);
    /** A new file of size pattern bytes, passed back as a descriptor. */
    ParcelFileDescriptor makeFile(int size);
    /** One-way: records seq (in arrival order) and the payload length. */
    oneway void post(int seq, in byte[] payload);
    /** The seqs recorded by post since the last call, in order; clears them. */
    int[] takePosted();
    /** While held, every post blocks its thread until released. */
    void holdPosts(boolean hold);
    /** Sleeps millis, tracking concurrent calls and the threads serving them. */
    void slowCall(int millis);
    /** [most calls in flight at once, distinct threads seen] since the last call. */
    int[] takePoolStats();
    /** Never returns: the caller waits until the service dies. */
    void hang();
    /** Ends the service process (exit status code) without replying. */
    void exitMidCall(int code);
}
