package alloctest;

import alloctest.Inner;

/** The outer parcelable of the nested-parcelable echo. */
@RustDerive(Clone=true, PartialEq=true)
parcelable Outer {
    long seq;
    Inner first;
    Inner[] items;
    @nullable String note;
}
