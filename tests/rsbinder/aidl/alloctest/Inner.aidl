package alloctest;

/** A nested parcelable: carried inside Outer, alone and in an array. */
@RustDerive(Clone=true, PartialEq=true)
parcelable Inner {
    int id;
    String label;
    byte[] blob;
}
