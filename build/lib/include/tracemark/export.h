
#ifndef TRACEMARK_EXPORT_H
#define TRACEMARK_EXPORT_H

#ifdef TRACEMARK_STATIC_DEFINE
#  define TRACEMARK_EXPORT
#  define TRACEMARK_NO_EXPORT
#else
#  ifndef TRACEMARK_EXPORT
#    ifdef tracemark_EXPORTS
        /* We are building this library */
#      define TRACEMARK_EXPORT 
#    else
        /* We are using this library */
#      define TRACEMARK_EXPORT 
#    endif
#  endif

#  ifndef TRACEMARK_NO_EXPORT
#    define TRACEMARK_NO_EXPORT 
#  endif
#endif

#ifndef TRACEMARK_DEPRECATED
#  define TRACEMARK_DEPRECATED __attribute__ ((__deprecated__))
#endif

#ifndef TRACEMARK_DEPRECATED_EXPORT
#  define TRACEMARK_DEPRECATED_EXPORT TRACEMARK_EXPORT TRACEMARK_DEPRECATED
#endif

#ifndef TRACEMARK_DEPRECATED_NO_EXPORT
#  define TRACEMARK_DEPRECATED_NO_EXPORT TRACEMARK_NO_EXPORT TRACEMARK_DEPRECATED
#endif

#if 0 /* DEFINE_NO_DEPRECATED */
#  ifndef TRACEMARK_NO_DEPRECATED
#    define TRACEMARK_NO_DEPRECATED
#  endif
#endif

#endif /* TRACEMARK_EXPORT_H */
