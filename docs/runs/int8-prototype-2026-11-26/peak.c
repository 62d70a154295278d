#include <immintrin.h>
#include <stdio.h>
#include <time.h>
static double now(){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
int main(){
  const long N=100000000;
  __m256 f[12]; for(int i=0;i<12;i++) f[i]=_mm256_set1_ps(i*0.001f);
  __m256 a=_mm256_set1_ps(1.0000001f), b=_mm256_set1_ps(0.9999999f);
  double t=now();
  for(long n=0;n<N;n++){
    #pragma GCC unroll 12
    for(int i=0;i<12;i++) f[i]=_mm256_fmadd_ps(a,b,f[i]);
    __asm__ volatile("" : "+x"(a));
  }
  double tf=now()-t; float s=0; for(int i=0;i<12;i++) s+=f[i][0];
  printf("fma: %.2f GMAC/s (%.1f GFLOP/s) [%f]\n", N*12*8/tf/1e9, N*12*16/tf/1e9, s);
  __m256i acc[8]; for(int i=0;i<8;i++) acc[i]=_mm256_set1_epi32(i);
  __m256i x=_mm256_set1_epi8(3), w0=_mm256_set1_epi8(-2),w1=_mm256_set1_epi8(-3), one=_mm256_set1_epi16(1);
  t=now();
  for(long n=0;n<N;n++){
    __asm__ volatile("" : "+x"(x));
    __m256i p0=_mm256_maddubs_epi16(x,w0); __m256i p1=_mm256_maddubs_epi16(x,w1);
    __asm__ volatile("" : "+x"(w0), "+x"(w1));
    __m256i p2=_mm256_maddubs_epi16(x,w0); __m256i p3=_mm256_maddubs_epi16(x,w1);
    __asm__ volatile("" : "+x"(w0), "+x"(w1));
    __m256i p4=_mm256_maddubs_epi16(x,w0); __m256i p5=_mm256_maddubs_epi16(x,w1);
    __asm__ volatile("" : "+x"(w0), "+x"(w1));
    __m256i p6=_mm256_maddubs_epi16(x,w0); __m256i p7=_mm256_maddubs_epi16(x,w1);
    __asm__ volatile("" : "+x"(w0), "+x"(w1));
    acc[0]=_mm256_add_epi32(acc[0],_mm256_madd_epi16(p0,one));
    acc[1]=_mm256_add_epi32(acc[1],_mm256_madd_epi16(p1,one));
    acc[2]=_mm256_add_epi32(acc[2],_mm256_madd_epi16(p2,one));
    acc[3]=_mm256_add_epi32(acc[3],_mm256_madd_epi16(p3,one));
    acc[4]=_mm256_add_epi32(acc[4],_mm256_madd_epi16(p4,one));
    acc[5]=_mm256_add_epi32(acc[5],_mm256_madd_epi16(p5,one));
    acc[6]=_mm256_add_epi32(acc[6],_mm256_madd_epi16(p6,one));
    acc[7]=_mm256_add_epi32(acc[7],_mm256_madd_epi16(p7,one));
  }
  double ti=now()-t; long s2=0; for(int i=0;i<8;i++) s2+=_mm256_extract_epi32(acc[i],0);
  printf("u8s8 maddubs+madd+add: %.2f GMAC/s [%ld]\n", N*8*32/ti/1e9, s2);
  return 0;}
